"""The dialogues in, prompts out: a source read and its splits and columns mapped onto DialogSum's rows (loading,
formats, layout), the rows checked and grouped by dialogue id (dialogsum), the prompt template cut inside the
dialogue (prompts), data text tokenized as text so a typed "</s>" is no special token (tokens), warnings about cut
summaries and split overlap (checks), the tokenizer's coverage of the text (vocab), whether one dialogue can be read
at all, as prepare, summarize, serve and demo all check it (dialogue), and the Hub commits that were read (sources).
Only the prepare stage (and demo) reads a source; the others read data/prepared via dialogsum."""
