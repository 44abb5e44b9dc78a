"""DialogSum in, prompts out: reading and checking the splits and tokenizing them (dialogsum), the prompt
template cut inside the dialogue (prompts), the tokenizer's coverage of the text (vocab), and the Hub commits
that were read (sources). Only the prepare stage reads all of it; the others read data/prepared via dialogsum."""
