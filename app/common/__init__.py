"""Plumbing shared by every server: no server logic lives here."""
