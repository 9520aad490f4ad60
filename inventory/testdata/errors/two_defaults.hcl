defaults {
}
defaults { # ERROR: Duplicate defaults block
}
