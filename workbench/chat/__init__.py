"""Chat: conversations rendered with the model's chat format, the context budget and dropped turns."""
