//! The delivery pipeline: recipients resolved, message stored durably, copies appended.
