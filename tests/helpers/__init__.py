"""Helpers shared by the tests: real model paths, edit pairs, a fake model, CLI environments."""
