"""One construct per capability; each exposes what it creates and holds no business logic."""
