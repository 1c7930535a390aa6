"""Questions to experts: asking, voting, hosts' actions and live frames (webinars and Ask the Expert)."""
