"""Music tools beside the data: the ABC validity checker (:mod:`seqlab.music.abc`) and the tunes page with sheet
music and a play button (:mod:`seqlab.music.tunes_page`)."""
