"""pyrt: an algorithmic trading system on trio."""
