"""Staff training (issue 22 part 3): staff lessons read, the provider knowledge quiz in
rounds at baseline, 3, 6 and 9 months, scores per clinic, and phone nudges."""
