"""The model factory: data synthesis, training, GGUF export, Modelfiles and registration."""
