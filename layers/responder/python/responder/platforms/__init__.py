"""Outbound calls to the platforms: X API v2 through tweepy, the Graph API (Facebook, Instagram, Messenger,
WhatsApp) through requests."""
