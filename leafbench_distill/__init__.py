"""leafbench_distill: train LEAF students (squared L2 to precomputed teacher embeddings) and export them.

Modules, in the order a run uses them: recipe (YAML recipes) → texts (sources with roles) → targets (teacher
embeddings through leafbench's store) → student (ST modules, layer selection, ridge projection) → train
(L2, AdamW, cyclic LR, resume) → evaluation (alignment + asymmetric retrieval) → export (ST folder,
manifest, Router, model card); pipeline and cli tie them together (`leafbench distill`).
"""
