"""Music tools: the ABC checker (:mod:`seqlab.music.abc`) and the tunes page (:mod:`seqlab.music.tunes_page`)."""
