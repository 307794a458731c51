//! The loop that joins broker -> policy -> runtime -> settle -> results.
