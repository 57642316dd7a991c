"""Applying verified platform events to the member store (the webhook path's logic)."""
