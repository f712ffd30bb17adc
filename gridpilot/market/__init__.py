"""Market: prices, day-ahead price forecasting, dispatch optimization and bidding."""
