package lambda

import (
	"net/http"

	"github.com/sluicehq/sluice"
)

// riePath is where AWS's Runtime Interface Emulator takes invocations.
// People who run one function with the emulator curl it without signing,
// so the front door routes this exact path here even when it is unsigned.
const riePath = "/2015-03-31/functions/function/invocations"

// RIEPath is riePath for the front door's routing.
const RIEPath = riePath

// rieFunctionName is the name the emulator gives its single function.
const rieFunctionName = "function"

// serveRIE invokes, synchronously, the function named "function" if there
// is one, else the only function there is; the emulator hosts exactly one
// function and answers for it whatever it is called.
func (s *Service) serveRIE(w http.ResponseWriter, r *http.Request) {
	fn, err := s.rieFunction(r)
	if err != nil {
		s.WriteError(w, r, err)
		return
	}
	payload, err := readBody(r, sluice.MaxSyncPayload, "InvokeFunction")
	if err != nil {
		s.WriteError(w, r, err)
		return
	}
	res, err := s.invoke(r.Context(), fn, &fn.Latest, payload, InvokeOptions{
		ClientContext: r.Header.Get("X-Amz-Client-Context"),
		Tail:          r.Header.Get("X-Amz-Log-Type") == "Tail",
	})
	if err != nil {
		s.WriteError(w, r, err)
		return
	}
	writeInvokeResult(w, res, r.Header.Get("X-Amz-Log-Type") == "Tail")
}

func (s *Service) rieFunction(r *http.Request) (*functionRecord, error) {
	region := s.regionOf(r.Context())
	if fn, ok := s.reg.get(region, rieFunctionName); ok {
		return fn, nil
	}
	all := s.reg.list("")
	switch len(all) {
	case 1:
		return all[0], nil
	case 0:
		return nil, sluice.Errorf(sluice.ErrResourceNotFound,
			"Function not found: %s (the emulator endpoint invokes the function named %q, or the only function when there is exactly one; none exists)",
			functionARN(region, rieFunctionName), rieFunctionName)
	}
	return nil, sluice.Errorf(sluice.ErrResourceNotFound,
		"Function not found: %s (the emulator endpoint invokes the function named %q, or the only function when there is exactly one; there are %d: name one %q or invoke the others by name)",
		functionARN(region, rieFunctionName), rieFunctionName, len(all), rieFunctionName)
}
