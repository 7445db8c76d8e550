"""Hugging Face Hub-compatible routes (filled in by the HF API work)."""

urlpatterns: list = []
