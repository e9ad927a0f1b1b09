package keyhash_test

import (
	"fmt"
	"os"
	"strings"

	"github.com/keyward/keyward/keyhash"
)

// Read peppers the way keyward serve and the CLI do: KEYWARD_PEPPER holds the
// current pepper, then, during a rotation, the older ones, separated by
// commas. Every hasher takes the whole list: it hashes with the first and
// still verifies hashes made with the others.
func ExampleParsePeppers() {
	os.Unsetenv("KEYWARD_PEPPER")
	peppers, err := keyhash.ParsePeppers(os.Getenv("KEYWARD_PEPPER"))
	if err != nil {
		fmt.Println("KEYWARD_PEPPER:", err)
	}

	newPepper, oldPepper := strings.Repeat("n", 32), strings.Repeat("o", 32)
	peppers, err = keyhash.ParsePeppers(newPepper + "," + oldPepper)
	if err != nil {
		fmt.Println(err)
		return
	}
	hasher, err := keyhash.NewHMAC(peppers...)
	if err != nil {
		fmt.Println(err)
		return
	}
	encoded, _ := hasher.Hash("98Y3E361CZTH4neA7mzSyEf5lCZQOmW6DREvYHXr")
	id, _ := keyhash.PepperID(encoded)
	fmt.Println(len(peppers), "peppers; new hashes name the first:", id == peppers[0].ID)
	// Output:
	// KEYWARD_PEPPER: keyhash: no pepper given
	// 2 peppers; new hashes name the first: true
}
