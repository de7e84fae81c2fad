"""Studies and randomised trials (issue 21, part 1): definitions, enrolment into a study,
concealed randomisation (individual and by clinic), the arms' policies the planner obeys,
the append-only allocation log and losses to follow-up."""
