"""Tests of the engagement area."""
