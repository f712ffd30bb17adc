"""Day-ahead price forecasting models: pure, plain data in and out, one small interface."""
