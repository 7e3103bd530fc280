"""Business rules, once: each service takes plain values and returns models or a Page."""
