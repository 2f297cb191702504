"""Analysis: interval statistics, inter-rater agreement and the charts drawn from votes and ratings."""
