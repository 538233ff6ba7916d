//! Many tiny changes to one household: pushes bounded, history linear.
