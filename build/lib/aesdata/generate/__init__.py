"""Generation: instruction sources, instruction synthesis, prompts and code extraction."""
