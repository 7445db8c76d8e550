"""Quick inference checks: load a committed model and generate a few tokens (registry.inference.* tasks run
on the gpu queue). `smoke` is pure Python with torch/transformers imported lazily; the Django side lives in
registry.services.inference."""
