"""Privacy: erasing what is stored about a post or a person, and exporting it on request."""
