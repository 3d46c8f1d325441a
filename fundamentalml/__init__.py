"""FundamentalML: generative deep learning course package."""
