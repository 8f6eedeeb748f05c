"""Recipient imports: file readers and the chunk pipeline."""
