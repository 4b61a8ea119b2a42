"""Responder's domain package, shared by every Lambda function through a layer."""

__version__ = "0.1.0"
