"""TokenMarket."""
