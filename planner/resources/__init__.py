"""Data files shipped with hvplan (CPU catalog, PowerShell templates, model profiles)."""
