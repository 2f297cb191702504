"""Human feedback: arena battles and votes, ratings, and the leaderboard."""
