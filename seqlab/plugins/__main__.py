"""``python -m seqlab.plugins``: the listing (see :func:`seqlab.plugins.listing.main`)."""

from seqlab.plugins.listing import main

main()
