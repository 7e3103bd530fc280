"""The versions this API serves: adding a version is its package plus one entry here."""

from api import v1, v2
from api.versioning.registry import Registry

REGISTRY = Registry([v1.VERSION, v2.VERSION])
