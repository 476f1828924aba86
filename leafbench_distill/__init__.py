"""leafbench_distill: train LEAF students (L2 to teacher embeddings). Filled in by the distillation issue."""
