//! The labsim state directory (`$LABSIM_HOME`) and the layout of profiles and nodes in it.
