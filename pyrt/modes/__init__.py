"""Modes: how a run is assembled (live, simulation, replay, backtest) from the same actors."""
