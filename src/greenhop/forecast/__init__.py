"""Surplus forecasting: the Forecaster protocol, baselines, replay of issued forecasts."""
