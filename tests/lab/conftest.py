from tests.lab.harness import make_lab

__all__ = ["make_lab"]
