"""Who sees it: the public centre pages, the clinicians' area and downloadable reports."""
