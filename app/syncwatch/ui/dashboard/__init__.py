"""The dashboard (SyncStatusIndicators): one window with the panels, plots, history, admin."""
