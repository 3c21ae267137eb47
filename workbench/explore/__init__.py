"""The text chain by hand: how surprising a text is, beam search, branch trees."""
