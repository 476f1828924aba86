"""leafbench: evaluate LEAF students, teachers and asymmetric pairs on BEIR and MTEB."""

__version__ = "0.1.0"
