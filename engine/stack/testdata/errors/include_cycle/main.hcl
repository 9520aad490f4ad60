recipe "a" {
  include "b" {} # ERROR: Recipe include cycle
}

recipe "b" {
  include "a" {} # ERROR: Recipe include cycle
}
