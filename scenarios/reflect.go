package scenarios

import "reflect"

// reflectValue returns the addressable struct behind a pointer.
func reflectValue(ptr any) reflect.Value { return reflect.ValueOf(ptr).Elem() }
