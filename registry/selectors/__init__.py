"""Reads. Each takes the viewer and applies visibility: private repos don't exist for outsiders."""
