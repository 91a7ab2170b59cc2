package stack

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudfront/types"
)

// Origin access controls and identities are applied through the CloudFront
// API before the distributions that name them, so that a distribution's
// OriginAccessControlId (!GetAtt Oac.Id) or OriginAccessIdentity
// (!Sub origin-access-identity/cloudfront/${Oai}) holds a real id.

func oacConfig(o OriginAccessControl) *cftypes.OriginAccessControlConfig {
	c := &cftypes.OriginAccessControlConfig{
		Name:                          aws.String(o.Name),
		OriginAccessControlOriginType: cftypes.OriginAccessControlOriginTypes(o.OriginType),
		SigningBehavior:               cftypes.OriginAccessControlSigningBehaviors(o.SigningBehavior),
		SigningProtocol:               cftypes.OriginAccessControlSigningProtocols(o.SigningProtocol),
	}
	if o.Description != "" {
		c.Description = aws.String(o.Description)
	}
	return c
}

func (a *applier) oac(ctx context.Context, o OriginAccessControl) error {
	h := hashOf(o)
	cfg := oacConfig(o)
	e := a.state.Resources[o.LogicalID]
	var etag *string
	if e != nil && e.Kind == kindOAC {
		got, err := a.t.CloudFront.GetOriginAccessControl(ctx, &cloudfront.GetOriginAccessControlInput{Id: aws.String(e.Physical)})
		switch {
		case apiCode(err) == "NoSuchOriginAccessControl":
			e = nil
		case err != nil:
			return fmt.Errorf("get origin access control %s: %w", e.Physical, err)
		default:
			etag = got.ETag
		}
	} else {
		e = nil
	}
	action := ActionUnchanged
	if e == nil {
		out, err := a.t.CloudFront.CreateOriginAccessControl(ctx, &cloudfront.CreateOriginAccessControlInput{OriginAccessControlConfig: cfg})
		switch {
		case err == nil:
			e = &stateEntry{Kind: kindOAC, Physical: aws.ToString(out.OriginAccessControl.Id), Hash: h}
			action = ActionCreate
		case apiCode(err) == "OriginAccessControlAlreadyExists":
			// The state was lost (a new --data, a deleted state file) but
			// the control exists: names are unique, so it is this one.
			id, tag, ferr := a.findOAC(ctx, o.Name)
			if ferr != nil || id == "" {
				return fmt.Errorf("create origin access control %s: %w", o.LogicalID, err)
			}
			e, etag = &stateEntry{Kind: kindOAC, Physical: id}, tag
		default:
			return fmt.Errorf("create origin access control %s: %w", o.LogicalID, err)
		}
	}
	if e.Hash != h {
		if _, err := a.t.CloudFront.UpdateOriginAccessControl(ctx, &cloudfront.UpdateOriginAccessControlInput{
			Id: aws.String(e.Physical), IfMatch: etag, OriginAccessControlConfig: cfg}); err != nil {
			return fmt.Errorf("update origin access control %s: %w", e.Physical, err)
		}
		e.Hash = h
		action = ActionUpdate
	}
	a.state.Resources[o.LogicalID] = e
	a.remember(o.LogicalID, e)
	a.record(Change{Action: action, Kind: kindOAC, LogicalID: o.LogicalID, PhysicalID: e.Physical})
	return a.save()
}

// findOAC returns the id and ETag of the origin access control named name.
func (a *applier) findOAC(ctx context.Context, name string) (string, *string, error) {
	p := cloudfront.NewListOriginAccessControlsPaginator(a.t.CloudFront, &cloudfront.ListOriginAccessControlsInput{})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return "", nil, err
		}
		if page.OriginAccessControlList == nil {
			break
		}
		for _, it := range page.OriginAccessControlList.Items {
			if aws.ToString(it.Name) != name {
				continue
			}
			got, err := a.t.CloudFront.GetOriginAccessControl(ctx, &cloudfront.GetOriginAccessControlInput{Id: it.Id})
			if err != nil {
				return "", nil, err
			}
			return aws.ToString(it.Id), got.ETag, nil
		}
	}
	return "", nil, nil
}

func (a *applier) oai(ctx context.Context, o OriginAccessIdentity) error {
	h := hashOf(o)
	cfg := &cftypes.CloudFrontOriginAccessIdentityConfig{CallerReference: aws.String(o.CallerReference), Comment: aws.String(o.Comment)}
	e := a.state.Resources[o.LogicalID]
	var etag *string
	if e != nil && e.Kind == kindOAI {
		got, err := a.t.CloudFront.GetCloudFrontOriginAccessIdentity(ctx, &cloudfront.GetCloudFrontOriginAccessIdentityInput{Id: aws.String(e.Physical)})
		switch {
		case apiCode(err) == "NoSuchCloudFrontOriginAccessIdentity":
			e = nil
		case err != nil:
			return fmt.Errorf("get origin access identity %s: %w", e.Physical, err)
		default:
			etag = got.ETag
			e.CanonicalUser = aws.ToString(got.CloudFrontOriginAccessIdentity.S3CanonicalUserId)
		}
	} else {
		e = nil
	}
	action := ActionUnchanged
	switch {
	case e == nil:
		// CreateCloudFrontOriginAccessIdentity is idempotent for one
		// CallerReference and config, so a lost state finds the same one.
		out, err := a.t.CloudFront.CreateCloudFrontOriginAccessIdentity(ctx, &cloudfront.CreateCloudFrontOriginAccessIdentityInput{CloudFrontOriginAccessIdentityConfig: cfg})
		if apiCode(err) == "CloudFrontOriginAccessIdentityAlreadyExists" {
			err = fmt.Errorf("%w (an identity with CallerReference %s exists with another Comment but the stack state does not know it: delete it or restore the state file %s)", err, o.CallerReference, a.path)
		}
		if err != nil {
			return fmt.Errorf("create origin access identity %s: %w", o.LogicalID, err)
		}
		oi := out.CloudFrontOriginAccessIdentity
		e = &stateEntry{Kind: kindOAI, Physical: aws.ToString(oi.Id), CanonicalUser: aws.ToString(oi.S3CanonicalUserId), Hash: h}
		action = ActionCreate
	case e.Hash != h:
		if _, err := a.t.CloudFront.UpdateCloudFrontOriginAccessIdentity(ctx, &cloudfront.UpdateCloudFrontOriginAccessIdentityInput{
			Id: aws.String(e.Physical), IfMatch: etag, CloudFrontOriginAccessIdentityConfig: cfg}); err != nil {
			return fmt.Errorf("update origin access identity %s: %w", e.Physical, err)
		}
		e.Hash = h
		action = ActionUpdate
	}
	a.state.Resources[o.LogicalID] = e
	a.remember(o.LogicalID, e)
	a.record(Change{Action: action, Kind: kindOAI, LogicalID: o.LogicalID, PhysicalID: e.Physical})
	return a.save()
}

func (a *applier) deleteOAC(ctx context.Context, id string) error {
	got, err := a.t.CloudFront.GetOriginAccessControl(ctx, &cloudfront.GetOriginAccessControlInput{Id: aws.String(id)})
	if apiCode(err) == "NoSuchOriginAccessControl" {
		return nil
	}
	if err != nil {
		return fmt.Errorf("get origin access control %s: %w", id, err)
	}
	_, err = a.t.CloudFront.DeleteOriginAccessControl(ctx, &cloudfront.DeleteOriginAccessControlInput{Id: aws.String(id), IfMatch: got.ETag})
	switch code := apiCode(err); {
	case err == nil, code == "NoSuchOriginAccessControl":
		return nil
	case code == "OriginAccessControlInUse":
		a.warn("origin access control %s is no longer in the template but a distribution outside the stack uses it: kept", id)
		return nil
	}
	return fmt.Errorf("delete origin access control %s: %w", id, err)
}

func (a *applier) deleteOAI(ctx context.Context, id string) error {
	got, err := a.t.CloudFront.GetCloudFrontOriginAccessIdentity(ctx, &cloudfront.GetCloudFrontOriginAccessIdentityInput{Id: aws.String(id)})
	if apiCode(err) == "NoSuchCloudFrontOriginAccessIdentity" {
		return nil
	}
	if err != nil {
		return fmt.Errorf("get origin access identity %s: %w", id, err)
	}
	_, err = a.t.CloudFront.DeleteCloudFrontOriginAccessIdentity(ctx, &cloudfront.DeleteCloudFrontOriginAccessIdentityInput{Id: aws.String(id), IfMatch: got.ETag})
	switch code := apiCode(err); {
	case err == nil, code == "NoSuchCloudFrontOriginAccessIdentity":
		return nil
	case code == "CloudFrontOriginAccessIdentityInUse":
		a.warn("origin access identity %s is no longer in the template but a distribution outside the stack uses it: kept", id)
		return nil
	}
	return fmt.Errorf("delete origin access identity %s: %w", id, err)
}
