"""Attribution: touchpoint paths in, revenue credited per week and channel out."""
